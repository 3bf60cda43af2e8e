"""Clicks: the click type and the robot user that places them, click protocols, first
interactions, click encodings, geodesic distances and click-centred crops."""

from gdgp.clicks.robot import Click, Robot

__all__ = ["Click", "Robot"]
