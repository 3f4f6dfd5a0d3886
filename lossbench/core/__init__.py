"""What every layer uses and that imports nothing of lossbench: errors, flags, progress labels, lazy
imports, the machine's environment."""
