from sightlint.cli import main

main()
