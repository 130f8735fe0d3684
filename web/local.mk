# web: see the files beside this fragment.
