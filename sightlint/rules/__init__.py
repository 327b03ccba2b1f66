"""The rules, one module each; ``sightlint.registry`` lists them (importing this package
imports none of them)."""
