"""The slot-scoring network: a state's logits do not depend on what else is in the batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th

import subliminal_gym  # noqa: F401  (registers the ids)
from subliminal_gym.baselines.policies import ARCHITECTURES, MASKED_LOGIT, PolicyArch, build_policy, parameter_shapes
from subliminal_gym.baselines.trajectories import collect_trajectories
from subliminal_gym.runner import ScriptedTextAgent
from subliminal_gym.views import ViewLayout, make_view_env


def test_batched_logits_match_one_state_at_a_time():
    # The scorer only computes up to the widest state of a batch; narrower states must not notice.
    demos = collect_trajectories("SubliminalFS-v0", ScriptedTextAgent(0.5), episodes=12, seed=0, split="all")
    obs = np.concatenate([d.obs[:-1] for d in demos])
    policy = build_policy(make_view_env("SubliminalFS-v0").layout, "small", seed=0)
    layout = policy.layout
    present = obs[:, layout.state_dim:].reshape(len(obs), layout.max_actions, layout.slot_dim)[..., 0] > 0.5
    assert len(set(present.sum(axis=1))) > 3  # states of different widths in one batch
    with th.no_grad():
        batched = policy.action_logits(th.as_tensor(obs)).numpy()
        single = np.concatenate([policy.action_logits(th.as_tensor(o[None])).numpy() for o in obs])
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-5)
    assert (batched[~present] == MASKED_LOGIT).all() and (batched[present] > MASKED_LOGIT / 2).all()


def test_gradients_reach_every_present_slot_only():
    demos = collect_trajectories("SubliminalBash-v0", ScriptedTextAgent(0.5), episodes=4, seed=0, split="all")
    obs = th.as_tensor(np.concatenate([d.obs[:-1] for d in demos]), dtype=th.float32).requires_grad_(True)
    policy = build_policy(make_view_env("SubliminalBash-v0").layout, "small", seed=0)
    th.log_softmax(policy.action_logits(obs), dim=-1).max(dim=-1).values.sum().backward()
    assert all(p.grad is not None and th.isfinite(p.grad).all() for p in policy.action_net.parameters())


def test_training_leaves_the_denormal_setting_as_it_found_it():
    # flushing denormals speeds training up but is process-wide; other code (hypothesis) refuses it
    from subliminal_gym.baselines.imitation_distill import behavioural_cloning
    from subliminal_gym.baselines.policies import denormals_flushed, flush_denormals

    assert not denormals_flushed()
    demos = collect_trajectories("SubliminalBash-v0", ScriptedTextAgent(0.5), episodes=20, seed=0, split="all")
    policy = build_policy(make_view_env("SubliminalBash-v0").layout, "small", seed=0)
    behavioural_cloning(policy, demos, epochs=1, rng=np.random.default_rng(0))
    assert not denormals_flushed()
    with flush_denormals():
        assert denormals_flushed()
    assert not denormals_flushed()


def test_the_same_seed_gives_the_same_weights_whatever_the_thread_count():
    layout = make_view_env("SubliminalFS-v0").layout
    threads = th.get_num_threads()
    try:
        th.set_num_threads(2)
        two = build_policy(layout, "small", seed=3).state_dict()
        th.set_num_threads(1)
        one = build_policy(layout, "small", seed=3).state_dict()
    finally:
        th.set_num_threads(threads)
    assert th.get_num_threads() == threads
    assert all(th.equal(two[name], one[name]) for name in two)


@pytest.mark.parametrize("setting", ["fs", "bash"])
@pytest.mark.parametrize("arch", [*ARCHITECTURES.values(),
                                  PolicyArch(embed=8, state_hidden=(), slot_hidden=(4, 5), score_hidden=(3,),
                                             value_hidden=())], ids=["large", "small", "odd"])
def test_parameter_shapes_are_the_built_policys(setting, arch):
    # the validator checks a saved model's header against these before it builds anything
    layout = ViewLayout.of(setting)
    built = {name: tuple(t.shape) for name, t in build_policy(layout, arch, seed=0).state_dict().items()}
    assert parameter_shapes(layout, arch) == built
