using System.Text;
using System.Text.Json.Nodes;
using Ril.Text;

namespace Ril.Tests.Text;

/// <summary>NFC and NFD against Unicode's own conformance file (NormalizationTest.txt of the tables' version).</summary>
public class UnicodeNormalizationTests
{
    static readonly string TestFile = Path.Combine(TokenizerFixtures.Folder, "unicode", "normalization_test.json");

    static string FromHex(string codePoints) =>
        string.Concat(codePoints.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(h => char.ConvertFromUtf32(Convert.ToInt32(h, 16))));

    static (string Version, List<(string Part, string Source, string Nfc, string Nfd)> Cases) Read()
    {
        var root = JsonNode.Parse(File.ReadAllText(TestFile))!;
        var cases = new List<(string, string, string, string)>();
        string part = "";
        foreach (var line in root["cases"]!.AsArray().Select(n => n!.GetValue<string>()))
        {
            if (line.StartsWith('@')) { part = line; continue; }
            var columns = line.Split(';');
            cases.Add((part, FromHex(columns[0]), FromHex(columns[1]), FromHex(columns[2])));
        }
        return (root["unicode"]!.GetValue<string>(), cases);
    }

    [Fact]
    public void Every_conformance_case_normalises_as_Unicode_says()
    {
        var (version, cases) = Read();
        Assert.Equal(UnicodeNormalization.UnicodeVersion, version);
        Assert.True(cases.Count > 19000);
        var failures = new List<string>();
        string Hex(string s) => string.Join(" ", s.EnumerateRunes().Select(r => r.Value.ToString("X4")));
        foreach (var (part, source, nfc, nfd) in cases)
        {
            // NFC(c2) == NFC(c1) == c2 and NFD(c1) == c3, from the file's header.
            if (UnicodeNormalization.ToNfc(source) != nfc) failures.Add($"{part} NFC({Hex(source)}) = {Hex(UnicodeNormalization.ToNfc(source))}, expected {Hex(nfc)}");
            if (UnicodeNormalization.ToNfc(nfc) != nfc) failures.Add($"{part} NFC({Hex(nfc)}) changed it");
            if (UnicodeNormalization.ToNfd(source) != nfd) failures.Add($"{part} NFD({Hex(source)}) = {Hex(UnicodeNormalization.ToNfd(source))}, expected {Hex(nfd)}");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} failures, first: {string.Join("\n", failures.Take(5))}");
    }

    [Fact]
    public void Characters_not_listed_in_part_1_are_left_alone()
    {
        var (_, cases) = Read();
        var listed = cases.Where(c => c.Part == "@Part1").Select(c => char.ConvertToUtf32(c.Source, 0)).ToHashSet();
        for (int cp = 0; cp < 0x110000; cp++)
        {
            if (cp is >= 0xD800 and <= 0xDFFF || listed.Contains(cp)) continue;
            var s = char.ConvertFromUtf32(cp);
            if (!ReferenceEquals(s, UnicodeNormalization.ToNfc(s)) && UnicodeNormalization.ToNfc(s) != s) Assert.Fail($"NFC changed U+{cp:X4}");
            if (UnicodeNormalization.ToNfd(s) != s) Assert.Fail($"NFD changed U+{cp:X4}");
        }
    }

    [Fact]
    public void Only_the_stretch_that_needs_it_is_rewritten_and_NFC_text_comes_back_as_is()
    {
        var text = "Café and cafe\u0301, 각 and \u1100\u1161\u11A8, 🎉 a\u0302\u0323 end";
        Assert.Equal("Café and café, 각 and 각, 🎉 ậ end", UnicodeNormalization.ToNfc(text));
        var already = "Already NFC: 你好 Привет 🎉 ậ";
        Assert.Same(already, UnicodeNormalization.ToNfc(already));
        Assert.Equal("\uD800x\u0301", UnicodeNormalization.ToNfd("\uD800x\u0301")); // a lone surrogate stays
        Assert.Equal("\uD800\u00E1", UnicodeNormalization.ToNfc("\uD800a\u0301"));
    }
}
