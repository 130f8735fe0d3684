# docs: see the files beside this fragment.
