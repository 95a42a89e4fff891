"""`onair simulator`: FastPix on localhost."""


def simulator() -> None:
    """Run the FastPix simulator."""
    raise NotImplementedError
