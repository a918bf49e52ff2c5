"""Helpers the tests share: digits drawn as a canvas sends them, a gunicorn on loopback, generated
data. Test modules import from here, never from one another."""
