using System.Numerics.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tensors.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Ril.Tensors;

/// <summary>Unary elementwise ops: y = f(x), dx += g · f'(x, y). Kernels are chunked spans on TensorPrimitives.</summary>
/// <remarks>For all of Ops: the stack scratch of the kernels (stackalloc) is written before it is read, so it is not
/// zeroed first; zeroing it had doubled the memory written by the chunked backward kernels.</remarks>
[System.Runtime.CompilerServices.SkipLocalsInit]
public static partial class Ops
{
    delegate void UnaryForward(ReadOnlySpan<float> x, Span<float> y);
    /// <summary>Accumulates into dx: dx += g · f'(x) where y = f(x) is available too.</summary>
    delegate void UnaryBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> g, Span<float> dx);

    static Tensor Unary(string op, Tensor x, UnaryForward forward, UnaryBackward backward)
    {
        var y = Tensor.Empty((int[])x.Shape.Clone());
        Chunks.For(x.Length, (s, n) => forward(x.Data.Slice(s, n), y.Data.Slice(s, n)));
        return Tape.Record(y, op, [x], o =>
        {
            x.GradData();   // created before the parallel region
            Chunks.For(x.Length, (s, n) => backward(x.Data.Slice(s, n), o.Data.Slice(s, n), o.Grad!.Data.Slice(s, n), x.Grad!.Data.Slice(s, n)));
        });
    }

    /// <summary>dx += g · d, with d computed into a chunk-sized temporary.</summary>
    static void AccumulateProduct(ReadOnlySpan<float> g, ReadOnlySpan<float> d, Span<float> dx) => TP.MultiplyAdd(g, d, dx, dx);

    public static Tensor Exp(Tensor x) => Unary("Exp", x, TP.Exp, (_, y, g, dx) => AccumulateProduct(g, y, dx)); // d/dx eˣ = eˣ

    public static Tensor Log(Tensor x) => Unary("Log", x, TP.Log, (x, _, g, dx) =>
    {
        Span<float> t = stackalloc float[x.Length];
        TP.Divide(g, x, t);          // d/dx ln x = 1/x
        TP.Add(dx, t, dx);
    });

    public static Tensor Sqrt(Tensor x) => Unary("Sqrt", x, TP.Sqrt, (_, y, g, dx) =>
    {
        Span<float> t = stackalloc float[y.Length];
        TP.Divide(g, y, t);          // d/dx √x = 1/(2√x)
        TP.MultiplyAdd(t, 0.5f, dx, dx);
    });

    public static Tensor Rsqrt(Tensor x) => Unary("Rsqrt", x, (x, y) => { TP.Sqrt(x, y); TP.Reciprocal(y, y); }, (_, y, g, dx) =>
    {
        Span<float> t = stackalloc float[y.Length];
        TP.Multiply(y, y, t);        // d/dx x^(-1/2) = -½ y³
        TP.Multiply(t, y, t);
        TP.Multiply(t, g, t);
        TP.MultiplyAdd(t, -0.5f, dx, dx);
    });

    public static Tensor Tanh(Tensor x) => Unary("Tanh", x, TP.Tanh, (_, y, g, dx) =>
    {
        Span<float> t = stackalloc float[y.Length];
        TP.Multiply(y, y, t);        // d/dx tanh = 1 − y²
        TP.Subtract(1f, t, t);
        AccumulateProduct(g, t, dx);
    });

    public static Tensor Sigmoid(Tensor x) => Unary("Sigmoid", x, TP.Sigmoid, (_, y, g, dx) =>
    {
        Span<float> t = stackalloc float[y.Length];
        TP.Subtract(1f, y, t);       // σ' = σ(1 − σ)
        TP.Multiply(t, y, t);
        AccumulateProduct(g, t, dx);
    });

    public static Tensor Square(Tensor x) => Unary("Square", x, (x, y) => TP.Multiply(x, x, y), (x, _, g, dx) =>
    {
        Span<float> t = stackalloc float[x.Length];
        TP.Multiply(x, 2f, t);
        AccumulateProduct(g, t, dx);
    });

    /// <summary>SiLU(x) = x·σ(x) (the SwiGLU gate).</summary>
    public static Tensor Silu(Tensor x) => Unary("Silu", x, SiluForward, (x, _, g, dx) =>
    {
        Span<float> s = stackalloc float[x.Length];
        Span<float> t = stackalloc float[x.Length];
        TP.Sigmoid(x, s);
        TP.Subtract(1f, s, t);       // SiLU' = σ(1 + x(1 − σ))
        TP.MultiplyAdd(x, t, 1f, t);
        TP.Multiply(s, t, t);
        AccumulateProduct(g, t, dx);
    });

    internal static void SiluForward(ReadOnlySpan<float> x, Span<float> y)
    {
        TP.Sigmoid(x, y);
        TP.Multiply(x, y, y);
    }

    const float Sqrt2OverPi = 0.7978845608028654f;
    const float GeluCubic = 0.044715f;

    /// <summary>GELU, tanh approximation: ½x(1 + tanh(√(2/π)(x + 0.044715x³))) = x·σ(2√(2/π)(x + 0.044715x³)).</summary>
    public static Tensor GeluTanh(Tensor x) => Unary("GeluTanh", x, (x, y) =>
    {
        Span<float> u = stackalloc float[x.Length];
        GeluTanhInner(x, u);
        TP.Sigmoid(u, y);
        TP.Multiply(x, y, y);
    }, (x, _, g, dx) =>
    {
        Span<float> u = stackalloc float[x.Length];
        Span<float> s = stackalloc float[x.Length];
        GeluTanhInner(x, u);
        TP.Sigmoid(u, s);
        // y = x·σ(u), u = 2c(x + a x³):  y' = σ(u) + x·σ(u)(1 − σ(u))·2c(1 + 3a x²)
        TP.Multiply(x, x, u);
        TP.Multiply(u, 3 * GeluCubic, u);
        TP.Add(u, 1f, u);
        TP.Multiply(u, 2 * Sqrt2OverPi, u);
        TP.Multiply(u, x, u);
        Span<float> t = stackalloc float[x.Length];
        TP.Subtract(1f, s, t);
        TP.Multiply(t, s, t);
        TP.MultiplyAdd(t, u, s, t);
        AccumulateProduct(g, t, dx);
    });

    static void GeluTanhInner(ReadOnlySpan<float> x, Span<float> u)
    {
        TP.Multiply(x, x, u);
        TP.Multiply(u, x, u);
        TP.MultiplyAdd(u, GeluCubic, x, u);
        TP.Multiply(u, 2 * Sqrt2OverPi, u);
    }

    /// <summary>GELU, exact: ½x(1 + erf(x/√2)).</summary>
    public static Tensor GeluExact(Tensor x) => Unary("GeluExact", x, (x, y) =>
    {
        for (int i = 0; i < x.Length; i++) y[i] = 0.5f * x[i] * (1f + Erf(x[i] * 0.70710678f));
    }, (x, _, g, dx) =>
    {
        // y' = Φ(x) + x·φ(x)
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            float cdf = 0.5f * (1f + Erf(v * 0.70710678f));
            float pdf = 0.3989422804f * MathF.Exp(-0.5f * v * v);
            dx[i] += g[i] * (cdf + v * pdf);
        }
    });

    /// <summary>erf to float precision: Taylor series below 0.5, the Chebyshev-fitted erfc (fractional error &lt; 1.2e-7) above.</summary>
    internal static float Erf(float xf)
    {
        double x = xf, ax = Math.Abs(x);
        if (ax < 0.5)
        {
            // Taylor series: erf x = 2/√π Σ (−1)ⁿ x^(2n+1) / (n!(2n+1))
            double x2 = x * x, term = x, sum = x;
            for (int n = 1; n < 12; n++) { term *= -x2 / n; sum += term / (2 * n + 1); }
            return (float)(sum * 1.1283791670955126);
        }
        double t = 1.0 / (1.0 + 0.5 * ax);
        double y = t * Math.Exp(-ax * ax - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
                   t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
                   t * (-0.82215223 + t * 0.17087277)))))))));
        double erf = 1.0 - y;   // Numerical Recipes erfcc: fractional error < 1.2e-7
        return (float)(x >= 0 ? erf : -erf);
    }

    public static Tensor AddScalar(Tensor x, float s) => Unary("AddScalar", x, (x, y) => TP.Add(x, s, y), (_, _, g, dx) => TP.Add(dx, g, dx));

    public static Tensor MulScalar(Tensor x, float s) => Unary("MulScalar", x, (x, y) => TP.Multiply(x, s, y), (_, _, g, dx) => TP.MultiplyAdd(g, s, dx, dx));

    /// <summary>min(max(x, lo), hi); the gradient passes only where x is strictly inside (as torch.clamp at the bounds: inside or equal).</summary>
    public static Tensor Clamp(Tensor x, float lo, float hi) => Unary("Clamp", x, (x, y) => TP.Clamp(x, lo, hi, y), (x, _, g, dx) =>
    {
        for (int i = 0; i < x.Length; i++) if (x[i] >= lo && x[i] <= hi) dx[i] += g[i];
    });

    /// <summary>softplus(x) = log(1 + eˣ), and x itself above 20 (torch's F.softplus, beta 1, threshold 20; Gated DeltaNet's
    /// decay, docs/spec/QWEN3_5.md "L2 normalisation and softplus"). Computed as max(x, 0) + log1p(e^−|x|) so very negative x keeps
    /// its relative precision.</summary>
    public static Tensor Softplus(Tensor x) => Unary("Softplus", x, (x, y) =>
    {
        for (int i = 0; i < x.Length; i++) y[i] = SoftplusOf(x[i]);
    }, (x, _, g, dx) =>
    {
        // d/dx softplus = σ(x) below the threshold, 1 above it (the linear branch)
        for (int i = 0; i < x.Length; i++) dx[i] += x[i] > SoftplusThreshold ? g[i] : g[i] * (float)(1.0 / (1.0 + Math.Exp(-(double)x[i])));
    });

    const float SoftplusThreshold = 20f;

    internal static float SoftplusOf(float x)
    {
        if (x > SoftplusThreshold) return x;
        double u = Math.Exp(-Math.Abs((double)x)), w = 1.0 + u;
        double log1p = w == 1.0 ? u : Math.Log(w) * u / (w - 1.0);   // log1p(u) without cancellation
        return (float)(Math.Max((double)x, 0.0) + log1p);
    }

    /// <summary>x^p for a constant p (x &gt; 0 unless p is an integer).</summary>
    public static Tensor Pow(Tensor x, float p) => Unary("Pow", x, (x, y) => TP.Pow(x, p, y), (x, _, g, dx) =>
    {
        for (int i = 0; i < x.Length; i++) dx[i] += g[i] * p * MathF.Pow(x[i], p - 1);
    });
}
