using Starling.Protocol;

namespace Starling.Security;

/// <summary>One rule of a <see cref="CompiledAcl"/>: the filter with %c/%u already substituted.</summary>
internal readonly record struct CompiledRule(AclAccess Access, string Filter);

/// <summary>One client's rules; <see cref="Check"/> allocates nothing.</summary>
internal sealed class CompiledAcl(CompiledRule[] topics, CompiledRule[] patterns, bool denyPatterns)
{
    public bool Check(string topic, AclAccess wanted)
    {
        var result = CheckList(topics, topic, wanted);
        if (result is { } decided)
        {
            return decided;
        }
        if (denyPatterns)
        {
            return false;
        }
        return CheckList(patterns, topic, wanted) ?? false;
    }

    // First matching rule decides: a deny refuses, a rule with the wanted access grants; others are passed over.
    private static bool? CheckList(CompiledRule[] rules, string topic, AclAccess wanted)
    {
        foreach (var rule in rules)
        {
            if (!TopicFilter.Matches(rule.Filter, topic))
            {
                continue;
            }
            if (rule.Access == AclAccess.Deny)
            {
                return false;
            }
            if ((rule.Access & wanted) != 0)
            {
                return true;
            }
        }
        return null;
    }
}
