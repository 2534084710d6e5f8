"""Shared pytest set-up. Engineers append fixtures here; keep it small."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # tests/synthetic.py and friends
