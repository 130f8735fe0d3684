# fuzz: see the files beside this fragment.
