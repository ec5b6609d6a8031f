namespace Ril.Training;

/// <summary>The check behind every training config's Validate: a setting that cannot work is an error naming its recipe key.</summary>
internal static class ConfigKey
{
    public static void Require(bool ok, string key, string why)
    {
        if (!ok) throw new ArgumentException($"config key '{key}' {why}");
    }
}
