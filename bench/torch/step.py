"""One training step of the same decoder as `dotnet run -c Release --project bench/Ril.Bench -- step`, in PyTorch.

Llama layout: d_model 512, 8 layers, 8 heads, SwiGLU 1376, vocab 8192, untied head, RMSNorm eps 1e-6, RoPE theta 1e4,
batch 8 x 256 tokens, next-token cross-entropy, AdamW. Eager PyTorch with F.scaled_dot_product_attention when the
installed version has it, else explicit causal attention.

Run (PyTorch at its best on this CPU, same thread count as Ril):
    OMP_WAIT_POLICY=PASSIVE OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/torch/step.py --threads 2 --steps 10
Prints `step torch_ms=... peak_mb=...` (median over the timed steps after 3 warm-up steps).
"""
import argparse, math, resource, statistics, time
import torch
import torch.nn as nn
import torch.nn.functional as F

from llama import RMSNorm, rotate_half, rope_tables

VOCAB, D, FF, LAYERS, HEADS, BATCH, SEQ = 8192, 512, 1376, 8, 8, 8, 256
HEAD_DIM = D // HEADS


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layernorm = RMSNorm(D)
        self.q_proj = nn.Linear(D, D, bias=False)
        self.k_proj = nn.Linear(D, D, bias=False)
        self.v_proj = nn.Linear(D, D, bias=False)
        self.o_proj = nn.Linear(D, D, bias=False)
        self.post_attention_layernorm = RMSNorm(D)
        self.gate_proj = nn.Linear(D, FF, bias=False)
        self.up_proj = nn.Linear(D, FF, bias=False)
        self.down_proj = nn.Linear(FF, D, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(b, t, HEADS, HEAD_DIM).transpose(1, 2)
        k = self.k_proj(h).view(b, t, HEADS, HEAD_DIM).transpose(1, 2)
        v = self.v_proj(h).view(b, t, HEADS, HEAD_DIM).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if hasattr(F, "scaled_dot_product_attention"):
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            s = (q @ k.transpose(-1, -2)) / math.sqrt(HEAD_DIM) + mask
            a = torch.softmax(s, dim=-1) @ v
        x = x + self.o_proj(a.transpose(1, 2).reshape(b, t, D))
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, D)
        self.layers = nn.ModuleList(Block() for _ in range(LAYERS))
        self.norm = RMSNorm(D)
        self.lm_head = nn.Linear(D, VOCAB, bias=False)
        cos, sin = rope_tables(SEQ, HEAD_DIM)
        self.register_buffer("cos", cos[None, None])
        self.register_buffer("sin", sin[None, None])
        self.register_buffer("mask", torch.full((SEQ, SEQ), float("-inf")).triu(1))

    def forward(self, ids):
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, self.cos, self.sin, self.mask)
        return self.lm_head(self.norm(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Decoder()
    for p in model.parameters():
        if p.dim() == 2:
            nn.init.normal_(p, std=0.02)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    ids = torch.randint(0, VOCAB, (BATCH, SEQ))
    targets = torch.cat((ids[:, 1:], torch.full((BATCH, 1), -100)), dim=1)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"# step: {n_params / 1e6:.1f}M parameters, batch {BATCH}x{SEQ}, threads={torch.get_num_threads()}, torch {torch.__version__}")

    def step():
        logits = model(ids)
        loss = F.cross_entropy(logits.view(-1, VOCAB), targets.reshape(-1), ignore_index=-100)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(3):
        step()
    times = []
    for i in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        times.append((time.perf_counter() - t0) * 1000)
        if (i + 1) % 10 == 0:
            print(f"# step {i + 1}: {times[-1]:.0f} ms, loss {loss:.4f}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"step torch_ms={statistics.median(times):.0f} peak_mb={peak_mb}")


if __name__ == "__main__":
    main()
