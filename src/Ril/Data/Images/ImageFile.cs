namespace Ril.Data.Images;

/// <summary>Reads any supported image by its content (not its extension) and writes by extension.</summary>
public static class ImageFile
{
    /// <param name="extensionHint">when the content matches no format, the decoder named by this extension explains what is wrong</param>
    /// <param name="maxPixels">width × height beyond which the image is refused from its header, before any pixel is decoded</param>
    public static Image Decode(ReadOnlySpan<byte> data, string? extensionHint = null, long maxPixels = PngDecoder.DefaultMaxPixels)
    {
        if (PngDecoder.HasSignature(data)) return PngDecoder.DecodeImage(data, maxPixels);
        if (Jpeg.HasSignature(data)) return Jpeg.Decode(data, maxPixels);
        if (Pnm.HasSignature(data)) return Pnm.Decode(data, maxPixels);
        switch (extensionHint?.ToLowerInvariant())
        {
            case ".png": return PngDecoder.DecodeImage(data, maxPixels);
            case ".jpg" or ".jpeg": return Jpeg.Decode(data, maxPixels);
            case ".ppm" or ".pgm" or ".pbm" or ".pnm": return Pnm.Decode(data, maxPixels);
        }
        if (data.Length == 0) throw new ImageFormatException("the file is empty");
        throw new ImageFormatException("unrecognised image format (Ril reads PNG, JPEG, PPM/PGM/PBM)");
    }

    /// <summary>Loads an image; errors name the file.</summary>
    public static Image Load(string path)
    {
        byte[] data;
        try { data = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { throw new FileNotFoundException($"image file not found: {path}", path); }
        try { return Decode(data, Path.GetExtension(path)); }
        catch (ImageFormatException e) { throw e.WithFile(path); }
    }

    /// <summary>Writes PNG (.png, keeps channels), PPM (.ppm, RGB) or PGM (.pgm, grey) by the path's extension.</summary>
    public static void Save(Image image, string path)
    {
        var extension = Path.GetExtension(path).ToLowerInvariant();
        byte[] bytes = extension switch
        {
            ".png" => PngEncoder.Encode(image),
            ".ppm" => Pnm.Encode(image.ToRgb()),
            ".pgm" => Pnm.Encode(image.ToGrey()),
            _ => throw new ArgumentException($"cannot write '{extension}' files: use .png, .ppm or .pgm ({path})"),
        };
        File.WriteAllBytes(path, bytes);
    }
}
