using System.Buffers.Binary;
using System.Text;
using Starling.Protocol;

namespace Starling.Broker.Storage;

/// <summary>
/// A compact, versioned encoding of the message properties a stored message or will carries (payload format, expiry,
/// content type, response topic, correlation data, user properties). Per-connection properties (topic alias,
/// subscription identifiers) and will delay are never stored with a message.
/// </summary>
public static class StoredProperties
{
    private const byte Version = 1;

    [Flags]
    private enum Fields : byte
    {
        None = 0,
        PayloadFormat = 1,
        Expiry = 2,
        ContentType = 4,
        ResponseTopic = 8,
        CorrelationData = 16,
        UserProperties = 32,
    }

    /// <summary>Encodes the stored properties; null when there are none to keep.</summary>
    public static byte[]? Encode(MqttProperties? p)
    {
        if (p is null)
        {
            return null;
        }
        var fields = Fields.None;
        if (p.PayloadFormatIndicator is not null) { fields |= Fields.PayloadFormat; }
        if (p.MessageExpiryInterval is not null) { fields |= Fields.Expiry; }
        if (p.ContentType is not null) { fields |= Fields.ContentType; }
        if (p.ResponseTopic is not null) { fields |= Fields.ResponseTopic; }
        if (p.CorrelationData is not null) { fields |= Fields.CorrelationData; }
        if (p.UserProperties is { Count: > 0 }) { fields |= Fields.UserProperties; }
        if (fields == Fields.None)
        {
            return null;
        }
        using var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Version);
            w.Write((byte)fields);
            if (p.PayloadFormatIndicator is { } format) { w.Write(format); }
            if (p.MessageExpiryInterval is { } expiry) { w.Write(expiry); }
            if (p.ContentType is { } contentType) { w.Write(contentType); }
            if (p.ResponseTopic is { } responseTopic) { w.Write(responseTopic); }
            if (p.CorrelationData is { } data)
            {
                w.Write(data.Length);
                w.Write(data);
            }
            if (p.UserProperties is { Count: > 0 } user)
            {
                w.Write(user.Count);
                foreach (var u in user)
                {
                    w.Write(u.Name);
                    w.Write(u.Value);
                }
            }
        }
        return stream.ToArray();
    }

    /// <summary>Decodes what <see cref="Encode"/> wrote; throws <see cref="InvalidDataException"/> for anything else.</summary>
    public static MqttProperties? Decode(byte[]? data)
    {
        if (data is null || data.Length == 0)
        {
            return null;
        }
        if (data[0] != Version)
        {
            throw new InvalidDataException($"stored message properties have format version {data[0]}, expected {Version}");
        }
        try
        {
            using var r = new BinaryReader(new MemoryStream(data, 1, data.Length - 1), Encoding.UTF8);
            var fields = (Fields)r.ReadByte();
            var p = new MqttProperties();
            if (fields.HasFlag(Fields.PayloadFormat)) { p.PayloadFormatIndicator = r.ReadByte(); }
            if (fields.HasFlag(Fields.Expiry)) { p.MessageExpiryInterval = r.ReadUInt32(); }
            if (fields.HasFlag(Fields.ContentType)) { p.ContentType = r.ReadString(); }
            if (fields.HasFlag(Fields.ResponseTopic)) { p.ResponseTopic = r.ReadString(); }
            if (fields.HasFlag(Fields.CorrelationData)) { p.CorrelationData = r.ReadBytes(r.ReadInt32()); }
            if (fields.HasFlag(Fields.UserProperties))
            {
                var count = r.ReadInt32();
                p.UserProperties = new List<UserProperty>(count);
                for (var i = 0; i < count; i++)
                {
                    p.UserProperties.Add(new UserProperty(r.ReadString(), r.ReadString()));
                }
            }
            return p;
        }
        catch (EndOfStreamException ex)
        {
            throw new InvalidDataException("stored message properties are truncated", ex);
        }
    }

    /// <summary>Subscription identifiers as 4 bytes each, big-endian; null for none.</summary>
    public static byte[]? EncodeIds(uint[]? ids)
    {
        if (ids is null || ids.Length == 0)
        {
            return null;
        }
        var bytes = new byte[ids.Length * 4];
        for (var i = 0; i < ids.Length; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(i * 4), ids[i]);
        }
        return bytes;
    }

    public static uint[]? DecodeIds(byte[]? bytes)
    {
        if (bytes is null || bytes.Length < 4)
        {
            return null;
        }
        var ids = new uint[bytes.Length / 4];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(i * 4));
        }
        return ids;
    }
}
