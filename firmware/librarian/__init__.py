"""The librarian: the process that turns model files into verified cached ones (librarian.py;
entry point `python -m firmware.librarian`), and the folder's rules (library.py)."""
