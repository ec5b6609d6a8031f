using System.Runtime.InteropServices;

namespace Ril.Data.Images;

/// <summary>
/// JPEG decoding through libjpeg-turbo's TurboJPEG API (Debian package libturbojpeg0), loaded at run
/// time so that Ril needs no native library unless someone actually opens a JPEG. Output is RGB, or
/// grey for greyscale JPEGs.
/// </summary>
public static unsafe class Jpeg
{
    const string LibraryName = "libturbojpeg.so.0";
    const int PixelFormatRgb = 0, PixelFormatGrey = 6;
    const int ColourSpaceGrey = 2, ColourSpaceCmyk = 3, ColourSpaceYcck = 4;

    sealed class TurboJpeg
    {
        public required delegate* unmanaged<nint> InitDecompress;
        public required delegate* unmanaged<nint, byte*, nuint, int*, int*, int*, int*, int> DecompressHeader3;
        public required delegate* unmanaged<nint, byte*, nuint, byte*, int, int, int, int, int, int> Decompress2;
        public required delegate* unmanaged<nint, byte*> GetErrorStr2;
        public required delegate* unmanaged<nint, int> Destroy;
    }

    static readonly Lazy<(TurboJpeg? Api, string? Problem)> Library = new(Load);

    public static bool HasSignature(ReadOnlySpan<byte> data) => data.Length >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;

    /// <summary>Whether JPEG decoding works here; when not, <paramref name="problem"/> says why and how to fix it.</summary>
    public static bool IsAvailable(out string? problem)
    {
        problem = Library.Value.Problem;
        return Library.Value.Api != null;
    }

    static (TurboJpeg?, string?) Load()
    {
        if (!NativeLibrary.TryLoad(LibraryName, out var handle) && !NativeLibrary.TryLoad("libturbojpeg.so", out handle)
            && !NativeLibrary.TryLoad("turbojpeg", out handle))
            return (null, $"JPEG needs libjpeg-turbo's {LibraryName}, which is not installed here (Debian/Ubuntu: apt-get install libturbojpeg0); or convert the images to PNG");
        try
        {
            return (new TurboJpeg
            {
                InitDecompress = (delegate* unmanaged<nint>)NativeLibrary.GetExport(handle, "tjInitDecompress"),
                DecompressHeader3 = (delegate* unmanaged<nint, byte*, nuint, int*, int*, int*, int*, int>)NativeLibrary.GetExport(handle, "tjDecompressHeader3"),
                Decompress2 = (delegate* unmanaged<nint, byte*, nuint, byte*, int, int, int, int, int, int>)NativeLibrary.GetExport(handle, "tjDecompress2"),
                GetErrorStr2 = (delegate* unmanaged<nint, byte*>)NativeLibrary.GetExport(handle, "tjGetErrorStr2"),
                Destroy = (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(handle, "tjDestroy"),
            }, null);
        }
        catch (EntryPointNotFoundException e)
        {
            return (null, $"{LibraryName} is too old (TurboJPEG 1.4 or newer is needed): {e.Message}");
        }
    }

    public static Image Decode(ReadOnlySpan<byte> data, long maxPixels = PngDecoder.DefaultMaxPixels)
    {
        var (api, problem) = Library.Value;
        if (api == null) throw new ImageFormatException(problem!);
        if (!HasSignature(data)) throw new ImageFormatException("not a JPEG file: bad signature");

        nint handle = api.InitDecompress();
        if (handle == 0) throw new ImageFormatException("libturbojpeg could not create a decompressor");
        try
        {
            fixed (byte* source = data)
            {
                int width, height, subsampling, colourSpace;
                if (api.DecompressHeader3(handle, source, (nuint)data.Length, &width, &height, &subsampling, &colourSpace) != 0)
                    throw new ImageFormatException($"corrupt JPEG header: {Error(api, handle)}");
                if (width < 1 || height < 1) throw new ImageFormatException($"invalid JPEG size {width}×{height}");
                if ((long)width * height > maxPixels) throw new ImageFormatException($"image too large: {width}×{height} exceeds the limit of {maxPixels} pixels");
                if (colourSpace is ColourSpaceCmyk or ColourSpaceYcck) throw new ImageFormatException("CMYK JPEGs are not supported; convert the image to RGB");
                bool grey = colourSpace == ColourSpaceGrey;
                // Uninitialised: a corrupt header can claim a huge size, and the decoder fails before touching most pages.
                int channels = grey ? 1 : 3;
                var image = new Image(width, height, channels, GC.AllocateUninitializedArray<byte>(width * height * channels));
                fixed (byte* target = image.Pixels)
                {
                    // Flags 0: accurate integer DCT and smooth upsampling, the same defaults PIL uses.
                    if (api.Decompress2(handle, source, (nuint)data.Length, target, width, 0, height,
                                        grey ? PixelFormatGrey : PixelFormatRgb, 0) != 0)
                        throw new ImageFormatException($"corrupt JPEG data: {Error(api, handle)}");
                }
                return image;
            }
        }
        finally
        {
            api.Destroy(handle);
        }
    }

    static string Error(TurboJpeg api, nint handle) => Marshal.PtrToStringUTF8((nint)api.GetErrorStr2(handle)) ?? "unknown error";
}
