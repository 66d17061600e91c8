"""``python -m vidsynth`` (also what ``torchrun -m vidsynth`` runs)."""

from vidsynth.cli import main

if __name__ == "__main__":
    main()
