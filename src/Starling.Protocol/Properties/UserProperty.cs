namespace Starling.Protocol;

/// <summary>An MQTT 5 user property: a UTF-8 string pair; order and duplicates are significant.</summary>
public readonly record struct UserProperty(string Name, string Value);
