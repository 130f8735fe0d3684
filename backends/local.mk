# backends: see the files beside this fragment.
