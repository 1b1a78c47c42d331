"""Test helpers shared by the suite (importable as ``helpers.*``: ``setup.cfg`` puts ``tests/`` on the path)."""
