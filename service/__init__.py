"""Youthlink: open youth-services directory and closed-loop referral API."""

__version__ = "0.1.0"
