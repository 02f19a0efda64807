"""StackedSGD (members/sgd.py), the group's fast path for torch's SGD, pinned to it: a
group of members differing in lr, weight decay (by the optimizer or as the penalty) and
momentum, under the cosine schedule, ends where each member's own torch.optim.SGD run ends."""

import torch
from member_runs import assert_same, fashion_members, one_by_one, stacked

from members.sgd import StackedSGD


def test_momentum_and_cosine_schedule_with_per_member_lr_match_one_by_one():
    variants = [{"seed": s, "model": {"lr": lr, "weight_decay": wd, "momentum": 0.9,
                                      "schedule": "cosine"}}
                for s, lr, wd in [(0, 0.1, 0.0), (1, 0.03, 1e-3), (2, 0.01, 1e-2)]]
    group = stacked(fashion_members(variants), max_epochs=3)
    assert_same(group, one_by_one(fashion_members(variants), max_epochs=3))


def test_a_step_of_k_stacked_members_is_each_members_torch_sgd_step_and_a_frozen_one_stays():
    # Per member its own lr, weight decay (on the weight, not the bias) and momentum buffer:
    # 5 steps of StackedSGD against torch.optim.SGD on each member's own tensors.
    torch.manual_seed(0)
    K, lr, wd = 3, torch.tensor([0.1, 0.03, 0.5]), torch.tensor([0.0, 0.1, 0.01])
    weight, bias = torch.randn(K, 4, 5), torch.randn(K, 4)
    grads = [(torch.randn(K, 4, 5), torch.randn(K, 4)) for _ in range(5)]
    active = torch.tensor([True, False, True])  # member 1 frozen (it diverged)
    stacked = [weight.clone().requires_grad_(), bias.clone().requires_grad_()]
    optimizer = StackedSGD(stacked[:1], stacked[1:], lr, wd, momentum=0.9, active=active)
    for g_weight, g_bias in grads:
        stacked[0].grad, stacked[1].grad = g_weight.clone(), g_bias.clone()
        optimizer.step()
    for k in range(K):
        plain = [weight[k].clone().requires_grad_(), bias[k].clone().requires_grad_()]
        sgd = torch.optim.SGD([{"params": plain[:1], "weight_decay": wd[k].item()},
                               {"params": plain[1:], "weight_decay": 0.0}],
                              lr=lr[k].item(), momentum=0.9)
        for g_weight, g_bias in grads if active[k] else []:
            plain[0].grad, plain[1].grad = g_weight[k].clone(), g_bias[k].clone()
            sgd.step()
        for ours, theirs in zip(stacked, plain, strict=True):
            torch.testing.assert_close(ours[k].detach(), theirs.detach(), rtol=1e-6, atol=1e-7)
