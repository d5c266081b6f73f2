using Starling.Broker.Security;

namespace Starling.Security;

/// <summary>
/// Topic permissions from an <see cref="AclFile"/>, Mosquitto-compatible: PUBLISH needs write access, delivery (live
/// and retained) needs read access, SUBSCRIBE itself is always granted (as Mosquitto 2.0 does: what a subscriber may
/// read is decided per message). A reload takes effect for connected clients on their next check.
/// </summary>
public sealed class AclAuthorizer : IAuthorizer
{
    private volatile AclFile _file;

    public AclAuthorizer(AclFile file) => _file = file;

    public string Name => "acl file";

    public AclFile File => _file;

    /// <summary>Swaps in a newly read file; connected clients recompile their rules on their next check.</summary>
    public void Replace(AclFile file) => _file = file;

    public IClientAuthorization Authorize(ClientIdentity client) => new ClientAcl(this, client);

    private sealed class ClientAcl(AclAuthorizer owner, ClientIdentity client) : IClientAuthorization
    {
        private volatile Compiled? _compiled;

        private CompiledAcl Current
        {
            get
            {
                var file = owner._file;
                var compiled = _compiled;
                if (compiled is not null && ReferenceEquals(compiled.File, file))
                {
                    return compiled.Acl;
                }
                var acl = file.Compile(client.ClientId, client.Username);
                _compiled = new Compiled(file, acl);
                return acl;
            }
        }

        public bool CanPublish(string topic) => Current.Check(topic, AclAccess.Write);

        public bool CanSubscribe(string filter) => true;

        public bool CanReceive(string topic) => Current.Check(topic, AclAccess.Read);
    }

    private sealed record Compiled(AclFile File, CompiledAcl Acl);
}
