"""Greedy decoding throughput of the same model as `dotnet run -c Release --project bench/Ril.Bench -- decode`, in PyTorch.

Llama layout: d 512, 6 layers, 8 heads, SwiGLU 1376, vocab 8192, untied head; prompts of 32 tokens, 128 new tokens,
batch 1 and 16; eager PyTorch with a preallocated KV cache, under torch.inference_mode(). Best of 3 runs.

Run (PyTorch at its best on this CPU, same thread count as Ril):
    OMP_WAIT_POLICY=PASSIVE OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/torch/decode.py --threads 2
Prints `decode batch=B torch_tok_s=...`.
"""
import argparse, math, time
import torch
import torch.nn as nn
import torch.nn.functional as F

from llama import RMSNorm, rotate_half, rope_tables

VOCAB, D, FF, LAYERS, HEADS, PROMPT, NEW = 8192, 512, 1376, 6, 8, 32, 128
HD = D // HEADS


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = RMSNorm(D), RMSNorm(D)
        self.q, self.k, self.v, self.o = (nn.Linear(D, D, bias=False) for _ in range(4))
        self.gate, self.up = nn.Linear(D, FF, bias=False), nn.Linear(D, FF, bias=False)
        self.down = nn.Linear(FF, D, bias=False)

    def forward(self, x, cos, sin, kc, vc, start):
        b, t, _ = x.shape
        h = self.n1(x)
        q = self.q(h).view(b, t, HEADS, HD).transpose(1, 2)
        k = self.k(h).view(b, t, HEADS, HD).transpose(1, 2)
        v = self.v(h).view(b, t, HEADS, HD).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        kc[:, :, start:start + t] = k
        vc[:, :, start:start + t] = v
        keys, values = kc[:, :, :start + t], vc[:, :, :start + t]
        s = (q @ keys.transpose(-1, -2)) / math.sqrt(HD)
        if t > 1:  # causal mask for the prefill
            s = s + torch.full((t, start + t), float("-inf")).triu(start + 1)
        a = torch.softmax(s, dim=-1) @ values
        x = x + self.o(a.transpose(1, 2).reshape(b, t, D))
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D)
        self.layers = nn.ModuleList(Block() for _ in range(LAYERS))
        self.norm = RMSNorm(D)
        self.head = nn.Linear(D, VOCAB, bias=False)
        self.cos, self.sin = rope_tables(PROMPT + NEW, HD)

    def forward(self, ids, caches, start):
        t = ids.shape[1]
        cos, sin = self.cos[start:start + t], self.sin[start:start + t]
        x = self.embed(ids)
        for layer, (kc, vc) in zip(self.layers, caches):
            x = layer(x, cos, sin, kc, vc, start)
        return self.head(self.norm(x[:, -1]))


def generate(model, prompts):
    b, plen = prompts.shape
    caches = [(torch.empty(b, HEADS, PROMPT + NEW, HD), torch.empty(b, HEADS, PROMPT + NEW, HD)) for _ in range(LAYERS)]
    logits = model(prompts, caches, 0)
    out = []
    for step in range(NEW):
        nxt = logits.argmax(-1, keepdim=True)
        out.append(nxt)
        if step == NEW - 1:
            break
        logits = model(nxt, caches, plen + step)
    return torch.cat(out, dim=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Decoder().eval()
    for p in model.parameters():
        if p.dim() == 2:
            nn.init.normal_(p, std=0.02)
    n = sum(p.numel() for p in model.parameters())
    print(f"# decode: {n / 1e6:.1f}M parameters, prompt {PROMPT}, {NEW} new tokens, greedy, threads={torch.get_num_threads()}, torch {torch.__version__}")
    with torch.inference_mode():
        for batch in (1, 16):
            prompts = torch.randint(0, VOCAB, (batch, PROMPT))
            generate(model, prompts[:, :8])
            best = 0.0
            for _ in range(3):
                t0 = time.perf_counter()
                out = generate(model, prompts)
                best = max(best, out.numel() / (time.perf_counter() - t0))
            print(f"decode batch={batch} torch_tok_s={best:.0f}")


if __name__ == "__main__":
    main()
