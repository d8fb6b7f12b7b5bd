# SPDX-License-Identifier: MIT
"""placeholder"""
from vptest import main
main({"dump": lambda: None})
