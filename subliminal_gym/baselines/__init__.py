"""Teachers, rollouts, sanitisation, distillers, evaluation and the reproduction, built on the suite (imported as
subliminal_gym.baselines)."""
