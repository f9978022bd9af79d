"""labctl: bring an ML certification lab up with one command, down with another, within budget."""

__version__ = "0.1.0"
