# A package so pytest's importlib mode names these modules `tests.*`: without it they would be
# `contracts.tests.*`, and importing that binds `contracts` to this directory's parent, shadowing
# the real package for every test in the run.
