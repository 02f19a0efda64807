"""torch.nn layers run with a leading member dimension: StackedMembers' fast path.

vmap over functional_call works for any net, but on a CPU its bookkeeping (~0.5 ms a
call) costs more than a tiny model's whole step. For nets built of the layers below
(every concise model in fitlab) the stacked forward is written out instead: batched
matmuls, and one wide matmul when every member reads the same inputs. Members may differ
in their activations (an MLP's relu, sigmoid and tanh) and dropout rates: each applies its
own.
"""

import torch
from torch import Tensor, nn
from torch.nn import functional as F

# Layers that act on each number alone, so a member dim changes nothing (Dropout draws
# each member's mask from that member's own stream).
ELEMENTWISE = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.Dropout, nn.Identity)


def member_layers(nets: list[nn.Module]) -> list[tuple[str, list[nn.Module]]] | None:
    """The members' nets as (parameter prefix, the K members' layers there) pairs in order,
    when every layer has a member-dim form here and the nets differ at most in elementwise
    layers (one member's relu, another's tanh); else None (the net then runs under vmap,
    which runs one net for all)."""
    named = [list(net.named_children()) if isinstance(net, nn.Sequential) else [("", net)]
             for net in nets]

    def known(layer: nn.Module) -> bool:
        if isinstance(layer, nn.Flatten):
            return layer.start_dim == 1 and layer.end_dim == -1
        return isinstance(layer, (nn.Linear, *ELEMENTWISE))

    def aligned(layers: tuple[nn.Module, ...]) -> bool:
        kinds = {type(layer) for layer in layers}
        return all(known(layer) for layer in layers) and (
            len(kinds) == 1 or all(issubclass(kind, ELEMENTWISE) for kind in kinds))

    first = named[0]
    if any(len(layers) != len(first) for layers in named):
        return None
    places = [tuple(layers[i][1] for layers in named) for i in range(len(first))]
    if not all(aligned(layers) for layers in places) or not any(
            isinstance(layer, nn.Linear) for _, layer in first):
        return None
    return [(f"{name}." if name else "", list(layers))
            for (name, _), layers in zip(first, places, strict=True)]


class MemberStreams:
    """Each member's own random stream, seeded as its one-by-one run seeds the process's
    (FitModule.on_train_batch_start), so member k draws its dropout masks in the very
    order and from the very numbers its run alone would: a group equals one-by-one runs.
    The stream lives on `device` (dropout on a GPU draws from the GPU's generator)."""

    def __init__(self, seeds: list[int], device: torch.device):
        self.cuda = device.type == "cuda"
        self.device = device
        self.states = []
        with torch.random.fork_rng(devices=[device] if self.cuda else []):
            for seed in seeds:
                torch.manual_seed(seed)
                self.states.append(self.state())

    def state(self) -> Tensor:
        return torch.cuda.get_rng_state(self.device) if self.cuda else torch.get_rng_state()

    def draw(self, k: int, sample):
        """`sample()` with member k's stream in place of the process's, which is kept."""
        outer = self.state()
        set_state = ((lambda s: torch.cuda.set_rng_state(s, self.device)) if self.cuda
                     else torch.set_rng_state)
        set_state(self.states[k])
        try:
            return sample()
        finally:
            self.states[k] = self.state()
            set_state(outer)


def layers_forward(layers: list[tuple[str, list[nn.Module]]], params: dict[str, Tensor],
                   X: Tensor, shared: bool, streams: MemberStreams | None) -> Tensor:
    """X (K, B, ...), or (B, ...) read by every member when `shared` -> (K, B, outputs).
    Member k's dropout masks come from its own stream (`streams`), at its own rate."""
    H = X
    for prefix, members in layers:
        layer = members[0]
        if isinstance(layer, nn.Linear):
            H = linear(H, params[f"{prefix}weight"], params.get(f"{prefix}bias"), shared)
            shared = False
        elif isinstance(layer, nn.Flatten):
            H = H.flatten(1 if shared else 2)
        elif isinstance(layer, nn.Dropout):
            if layer.training and any(member.p > 0 for member in members):
                H = H.expand(len(members), *H.shape) if shared else H
                H = torch.stack([streams.draw(k, lambda h=h, p=member.p: F.dropout(h, p))
                                 for k, (member, h) in enumerate(zip(members, H, strict=True))])
                shared = False
        elif len({type(member) for member in members}) == 1:
            H = layer(H)
        else:  # each member's own activation on its own rows
            H = H.expand(len(members), *H.shape) if shared else H
            H = torch.stack([member(h) for member, h in zip(members, H, strict=True)])
            shared = False
    return H


def linear(H: Tensor, W: Tensor, b: Tensor | None, shared: bool) -> Tensor:
    """nn.Linear per member. H (K, B, in), or (B, in) when shared; W (K, out, in);
    b (K, out) or None -> (K, B, out)."""
    K, out, num_inputs = W.shape
    if shared:
        # (B, in) @ (in, K·out): one GEMM for all members, and one for its weight gradient.
        Y = (H @ W.reshape(K * out, num_inputs).T).view(len(H), K, out).transpose(0, 1)
        return Y if b is None else Y + b.unsqueeze(1)
    if b is None:
        return torch.bmm(H, W.transpose(1, 2))
    return torch.baddbmm(b.unsqueeze(1), H, W.transpose(1, 2))
