"""Teachers, rollouts and (later) distillers, built on the suite (imported as subliminal_gym.baselines)."""
