"""The MNIST form every image takes on its way into the network, declared once.

An image is ``SIDE`` x ``SIDE`` greyscale pixels (light ink on black); the network reads it as
``PIXELS`` inputs and answers with one output for each of the ``CLASSES`` digits.
"""

SIDE = 28
PIXELS = SIDE * SIDE
CLASSES = 10
