"""The leaderboards (imported as ``subliminal_gym.leaderboards``): schema, scorer and boards.

* ``agents``: any policy for SubliminalFS-v0 and SubliminalBash-v0, scored on task success and the
  hidden habits;
* ``defences``: a distillation method's student of a fixed biased teacher, scored on the skill it
  kept and the habit it did not take.

Submissions are validated against :data:`~subliminal_gym.leaderboards.schema.SUBMISSION_SCHEMA`
(published as ``submission.schema.json``), re-run by the scorer on fixed test seeds, and rendered
from the stored per-episode results only. See ``leaderboards/README.md``.
"""

from subliminal_gym.leaderboards.schema import SUBMISSION_SCHEMA, schema_problems

__all__ = ["SUBMISSION_SCHEMA", "schema_problems"]
