using Starling.Broker.Security;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// The part of a connection's state that only a client that publishes needs, created by its first PUBLISH: an idle
/// or subscribe-only connection then carries one null reference instead of four (memory per idle connection). Owned
/// by the connection's read loop, like <see cref="ConnectionState"/>.
/// </summary>
internal sealed class PublisherState
{
    /// <summary>Limits:MaxPublishRate's bucket, created by the first PUBLISH when a rate is configured.</summary>
    public TokenBucket? Bucket;

    /// <summary>Inbound topic aliases of a v5 client (index = alias); created on first use.</summary>
    public TopicName?[]? TopicAliases;

    /// <summary>The topic of the last PUBLISH read: the decoder reuses it while the client repeats it.</summary>
    public TopicName? LastTopic;

    /// <summary>v5: the last PUBLISH's properties, reused while the client repeats their bytes (created on first use).</summary>
    public PublishPropertiesCache? Properties;
}
