"""XodVox training package: STFT front end, phase U-Net, losses, data, training loop, export."""

__version__ = "0.1.0"
