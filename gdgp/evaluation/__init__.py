"""Evaluation stage: the interaction loop (a method and the robot user, click after click),
scoring every round (Dice, surface Dice, ASSD) and the evaluate job's files."""
