set title "Server CPU per message vs concurrent connections (64 B)\n{/*0.8 Intel(R) Xeon(R) Processor, 2 CPUs, Linux 6.18.44-fc-v1045, 2026-12-02 08:44 UTC}"
set xlabel "connections"
set ylabel "server CPU-us per message"
set grid
set key outside right top box opaque
set border 3
set tics nomirror
set logscale x
set logscale y
set terminal pngcairo size 900,520 font 'sans,10'
set output 'concurrency-cpu.png'
plot 'concurrency-cpu.dat' index 0 using 1:2:3:4 with yerrorlines lc rgb "#000000" pt 1 ps 1.2 lw 2 dt 1 title 'blocking', \
     'concurrency-cpu.dat' index 1 using 1:2:3:4 with yerrorlines lc rgb "#e69f00" pt 2 ps 1.2 lw 2 dt 1 title 'spin', \
     'concurrency-cpu.dat' index 2 using 1:2:3:4 with yerrorlines lc rgb "#56b4e9" pt 5 ps 1.2 lw 2 dt 1 title 'select', \
     'concurrency-cpu.dat' index 3 using 1:2:3:4 with yerrorlines lc rgb "#009e73" pt 7 ps 1.2 lw 2 dt 1 title 'poll', \
     'concurrency-cpu.dat' index 4 using 1:2:3:4 with yerrorlines lc rgb "#0072b2" pt 9 ps 1.2 lw 2 dt 1 title 'epoll', \
     'concurrency-cpu.dat' index 5 using 1:2:3:4 with yerrorlines lc rgb "#0072b2" pt 13 ps 1.2 lw 2 dt 2 title 'epoll-et', \
     'concurrency-cpu.dat' index 6 using 1:2:3:4 with yerrorlines lc rgb "#0072b2" pt 1 ps 1.2 lw 2 dt 3 title 'reactors', \
     'concurrency-cpu.dat' index 7 using 1:2:3:4 with yerrorlines lc rgb "#882255" pt 15 ps 1.2 lw 2 dt 1 title 'uring', \
     'concurrency-cpu.dat' index 8 using 1:2:3:4 with yerrorlines lc rgb "#882255" pt 3 ps 1.2 lw 2 dt 2 title 'uring-multishot', \
     'concurrency-cpu.dat' index 9 using 1:2:3:4 with yerrorlines lc rgb "#d55e00" pt 11 ps 1.2 lw 2 dt 1 title 'threads', \
     'concurrency-cpu.dat' index 10 using 1:2:3:4 with yerrorlines lc rgb "#d55e00" pt 6 ps 1.2 lw 2 dt 2 title 'pool', \
     'concurrency-cpu.dat' index 11 using 1:2:3:4 with yerrorlines lc rgb "#cc79a7" pt 13 ps 1.2 lw 2 dt 1 title 'fork', \
     'concurrency-cpu.dat' index 12 using 1:2:3:4 with yerrorlines lc rgb "#cc79a7" pt 1 ps 1.2 lw 2 dt 2 title 'prefork', \
     'concurrency-cpu.dat' index 13 using 1:2 with points pt 6 ps 2.6 lw 1.5 lc rgb '#555555' title 'client-bound (loadgen >= 90% CPU)'
set terminal svg size 900,520 font 'sans,10' dynamic
set output 'concurrency-cpu.svg'
replot
