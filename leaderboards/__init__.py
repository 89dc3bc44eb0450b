"""The leaderboards (imported as subliminal_gym.leaderboards): schema, scorer and boards.

The boards themselves arrive with the leaderboard issue; this package exists so the install
layout of the design card is in place from the start.
"""
