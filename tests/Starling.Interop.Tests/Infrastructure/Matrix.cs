namespace Starling.Interop.Tests.Infrastructure;

/// <summary>Theory data: every case runs against Starling and against Mosquitto (the reference), for 3.1, 3.1.1 and 5.0.</summary>
public static class Matrix
{
    /// <summary>Protocol versions as mosquitto_sub -V and the paho script spell them.</summary>
    public static readonly string[] Versions = ["31", "311", "5"];

    public static TheoryData<string, string> BrokersAndVersions()
    {
        var data = new TheoryData<string, string>();
        foreach (var broker in TestBroker.Targets)
        {
            foreach (var version in Versions)
            {
                data.Add(broker, version);
            }
        }

        return data;
    }

    public static TheoryData<string, string, int> BrokersVersionsAndQos()
    {
        var data = new TheoryData<string, string, int>();
        foreach (var broker in TestBroker.Targets)
        {
            foreach (var version in Versions)
            {
                for (var qos = 0; qos <= 2; qos++)
                {
                    data.Add(broker, version, qos);
                }
            }
        }

        return data;
    }

    /// <summary>A fresh name (topic level or client id), at most 23 characters so MQTT 3.1 accepts it as a client id.</summary>
    public static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..10];
}
