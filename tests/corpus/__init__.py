"""The project's own test programs: every construct of the dialect at least once.

Each entry is script text as a user would write it (without import lines). Round-trip tests
parse, print and re-parse every one; later issues build and run them.
"""
