"""The auto-tuner: design spaces from rules, features, a learned cost model, search,
measurement and a database of results (issue 11). Import the submodules you need."""
