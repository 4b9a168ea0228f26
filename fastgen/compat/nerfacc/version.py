"""The nerfacc release whose API this drop-in mirrors (scripts that branch on
``nerfacc.__version__`` take the 0.5.x path)."""
__version__ = "0.5.3"
