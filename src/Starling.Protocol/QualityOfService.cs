namespace Starling.Protocol;

/// <summary>Delivery guarantee of a PUBLISH or a subscription.</summary>
public enum QualityOfService : byte
{
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}
