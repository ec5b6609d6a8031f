using System.Text;
using Ril.Tensors.IO;

namespace Ril.Tensors.Tests;

/// <summary>
/// Hostile safetensors headers are one-line errors naming the file and tensor, never garbage weights or a stack trace.
/// Before these tests, negative data_offsets loaded bytes of the header as weights, and a wrong JSON type ended in
/// "The given key was not present" or an InvalidOperationException.
/// </summary>
public class SafeTensorsHostileTests
{
    static byte[] File(string header, int dataBytes)
    {
        var json = Encoding.UTF8.GetBytes(header);
        return [.. BitConverter.GetBytes((long)json.Length), .. json, .. new byte[dataBytes]];
    }

    [Theory]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}""", "data_offsets")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", "data_offsets")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,800]}}""", "data_offsets")]
    [InlineData("""{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", "shape")]
    [InlineData("""{"w":{"dtype":"F32","shape":[65536,65536],"data_offsets":[0,8]}}""", "values")]
    [InlineData("""{"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}""", "shape")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2]}}""", "data_offsets")]
    [InlineData("""{"w":{"dtype":7,"shape":[2],"data_offsets":[0,8]}}""", "dtype")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}""", "shape")]
    [InlineData("""{"w":[1,2]}""", "object")]
    [InlineData("""[1,2]""", "object")]
    [InlineData("""{"__metadata__":{"format":3}}""", "__metadata__")]
    public void A_bad_header_is_a_one_line_error_naming_the_field(string header, string named)
    {
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.Parse(File(header, 8), "bad.safetensors"));
        Assert.Contains("bad.safetensors", e.Message);
        Assert.Contains(named, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    /// <summary>A seeded fuzz of one valid file's header bytes: every mutation parses or fails with InvalidDataException.</summary>
    [Fact]
    public void Mutated_headers_fail_cleanly()
    {
        var valid = File("""{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}""", 16);
        var rng = new Random(20261203);
        const string alphabet = "0123456789-.,:[]{}\"eE+ FBabcdefghijklmnopqrstuvwxyz";
        for (int trial = 0; trial < 20000; trial++)
        {
            var bytes = (byte[])valid.Clone();
            for (int edits = rng.Next(1, 4); edits > 0; edits--)
                bytes[8 + rng.Next(bytes.Length - 8 - 16)] = (byte)alphabet[rng.Next(alphabet.Length)];
            try { SafeTensors.Parse(bytes, "fuzz.safetensors"); }
            catch (InvalidDataException e) { Assert.DoesNotContain("\n", e.Message); }
        }
    }
}
