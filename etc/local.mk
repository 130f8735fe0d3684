# etc: see the files beside this fragment.
