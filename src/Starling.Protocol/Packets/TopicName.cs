namespace Starling.Protocol;

/// <summary>
/// A validated topic name as a string and as its UTF-8 bytes (what goes on the wire). Immutable: the bytes are never
/// written after construction, so one instance may be shared by every message published to the topic. A connection
/// keeps the last one it decoded and hands it back to <see cref="PacketDecoder.DecodePublish"/>, which reuses it
/// when the next PUBLISH names the same topic (publishers repeat topics): no string, no array and no UTF-8
/// validation for a repeated topic.
/// </summary>
public sealed class TopicName
{
    public TopicName(string name, byte[] utf8)
    {
        Name = name;
        Utf8 = utf8;
    }

    public string Name { get; }

    /// <summary>The UTF-8 encoding of <see cref="Name"/>; never modified.</summary>
    public byte[] Utf8 { get; }
}
