# bench: see the files beside this fragment.
