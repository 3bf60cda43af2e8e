"""The simulated user: clicks, the robot that places them, and the interaction loop."""

from gdgp.interaction.robot import Click, Robot

__all__ = ["Click", "Robot"]
