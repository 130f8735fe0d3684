#include <stdio.h>
int main(void) { puts("vigia"); return 0; }
