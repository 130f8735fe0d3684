# backends/darknet: libdarknet wrapper.
